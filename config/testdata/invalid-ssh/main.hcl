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

host "spaced" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  ssh {
    user             = "ad min" # ERROR: is not a login name
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}

host "boolean" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  ssh {
    user             = true # ERROR: user must be a string, not the bool
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}

host "badkey" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAA-not-base64 laptop"] # ERROR: is not an OpenSSH public key
    private_key_file = "id"
  }
}

host "root" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  ssh {
    user             = "root" # ERROR: must not be root
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}

host "nokeys" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = [] # ERROR: must hold at least one public key
    private_key_file = "id"
  }
}
