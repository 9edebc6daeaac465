# Network mistakes: kinds, addresses and exposure.
pool "default" {
  path = "/var/lib/fjord/pool"
}

network "lan" {
  bridge  = "br0"
  cidr    = "10.20.0.0/24"
  gateway = "10.30.0.1" # ERROR: 10.30.0.1 is outside the network's cidr 10.20.0.0/24
  dns     = ["10.20.0.2"]
}

network "backend" {
  cidr    = "192.168.50.0/24"
  gateway = "192.168.50.1" # ERROR: an isolated network has no gateway
}

network "odd" {
  mode = "vlan" # ERROR: must be "isolated", "bridge", "route" or "nat", not "vlan"
  cidr = "192.168.60.0/24"
}

network "noname" {
  mode = "bridge"
  bridge = "a/b" # ERROR: "a/b" is not an interface name
  cidr = "192.168.70.0/24"
  mtu  = 100000 # ERROR: must be between 576 and 9216
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
  address  = { lan = "10.20.0.21" } # ERROR: host web-1: 10.20.0.21 on network "lan" is host web-0's address too
  docker {
    publish       = [80, "443/tcp", 22] # ERROR: 22/tcp cannot be published: fjord and admins reach the host's SSH on it
    admin_sources = ["10.20.0.0/24"]
  }
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}

host "db" {
  image    = "bookworm"
  pool     = "default"
  networks = ["backend"]
  address  = { backend = "192.168.60.5" } # ERROR: 192.168.60.5 is outside network "backend" (192.168.50.0/24)
  docker {
    publish       = ["2375"] # ERROR: 2375/tcp cannot be published: it is the Docker API's plain port
    admin_sources = ["0.0.0.0/0"] # ERROR: 0.0.0.0/0 admits every address
  }
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}

host "gw" {
  image    = "bookworm"
  pool     = "default"
  network  = "lan"
  address  = { lan = "10.20.0.3", backend = "192.168.50.9" } # ERROR: 192.168.50.9 is for network "backend", which the host is not on
  docker {
    publish = ["99999"] # ERROR: "99999" is not a port
  }
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}

host "cache" { # ERROR: network "lan" is a bridge fjord allocates no addresses on
  image    = "bookworm"
  pool     = "default"
  networks = ["lan"]
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}

host "dns" {
  image    = "bookworm"
  pool     = "default"
  networks = ["lan"]
  address  = { lan = "10.20.0.2" } # ERROR: host dns: 10.20.0.2 is reserved on network "lan"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}
