# Every file apply reads is there and fits: the key is authorized, the disk
# holds the image.
pool "default" {
  path = "/var/lib/fjord/pool"
}

network "lab" {
  cidr = "192.168.150.0/24"
}

image "bookworm" {
  path   = "../images/bookworm.qcow2"
  sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
}

host "web" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  disk    = "2GiB"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN0KfoilDtFujXLq7JNb4fsw/EZ9EB8kLhcizSs+Gp5O fjord-test"]
    private_key_file = "../keys/id_ed25519"
  }
}
