pool "default" {
  path = "/var/lib/fjord/pool"
}

network "lab" {
  cidr = "192.168.150.0/24"
}

image "bookworm" {
  url        = "https://images.invalid/bookworm.qcow2"
  sha256     = "0000000000000000000000000000000000000000000000000000000000000000"
  apt_mirror = "ftp://mirror.invalid/debian" # ERROR: must be an http:// or https:// URL
}

image "golden" {
  build {
    from     = "bookworm"
    packages = ["jq", "Not A Package"] # ERROR: is not a Debian package name
  }
}

image "twice" {
  build {
    from = "golden" # ERROR: is built itself
  }
}

image "nowhere" {
  sha256 = "0000000000000000000000000000000000000000000000000000000000000000" # ERROR: remove sha256
  build {
    from    = "stretch" # ERROR: no image block named "stretch"
    network = "wan"     # ERROR: no network block named "wan"
  }
}

host "ci" {
  image   = "golden"
  pool    = "default"
  network = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}
