pool "default" {
  path = "/var/lib/fjord/pool"
}

network "lab" {
  cidr = "192.168.150.0/24"
}

image "bookworm" {
  path   = "bookworm.qcow2"
  sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
}

host "web" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  vcpu    = 0 # ERROR: must be between 1 and 512
  memory  = "16MiB" # ERROR: must be between 256MiB and 4TiB
  disk    = "10 parsecs" # ERROR: unknown unit
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}
