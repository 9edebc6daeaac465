pool "default" {
  path = "/var/lib/fjord/pool"
}

network "tiny" {
  cidr = "10.0.0.0/29" # ERROR: has room for 5 hosts, but 6 hosts use it
}

network "bad" {
  cidr = "10.1.0.5/24" # ERROR: has host bits set
}

image "bookworm" {
  path   = "bookworm.qcow2"
  sha256 = "nothex" # ERROR: must be 64 hexadecimal characters
}

host "web" {
  count   = 6
  image   = "bookworm"
  pool    = "default"
  network = "tiny"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}
