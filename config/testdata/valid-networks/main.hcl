pool "default" {
  path = "/var/lib/fjord/pool"
}

network "lan" {
  bridge   = "br0"
  cidr     = "10.20.0.0/24"
  gateway  = "10.20.0.1"
  dns      = ["10.20.0.2"]
  allocate = "10.20.0.128/28"
}

network "backend" {
  cidr = "192.168.50.0/24"
}

network "out" {
  mode = "nat"
  cidr = "192.168.60.0/24"
}

image "bookworm" {
  path   = "bookworm.qcow2"
  sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
}

host "web" {
  count    = 2
  image    = "bookworm"
  pool     = "default"
  networks = ["lan", "backend"]
  address  = { lan = "10.20.0.${21 + count.index}" }
  docker {
    publish = [80, 443]
  }
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}

host "worker" {
  count    = 3
  image    = "bookworm"
  pool     = "default"
  networks = ["lan", "out"]
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}
