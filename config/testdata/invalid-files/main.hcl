# Loaded as validate and plan load (Options.Files): every file apply would
# read is read now. ../images/bookworm.qcow2 is a qcow2 header of a 2 GiB disk.
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

image "golden" {
  build {
    from = "bookworm"
  }
}

host "small-golden" {
  image   = "golden"
  pool    = "default"
  network = "lab"
  disk    = "1GiB" # ERROR: image "golden" holds a 2GiB disk
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN0KfoilDtFujXLq7JNb4fsw/EZ9EB8kLhcizSs+Gp5O fjord-test"]
    private_key_file = "../keys/id_ed25519"
  }
}

image "missing" {
  path   = "nowhere.qcow2" # ERROR: Cannot read image
  sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
}

image "mislabelled" {
  path   = "../images/bookworm.qcow2"
  sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
  format = "raw" # ERROR: is a qcow2 image
}

host "small" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  disk    = "1GiB" # ERROR: image "bookworm" holds a 2GiB disk
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN0KfoilDtFujXLq7JNb4fsw/EZ9EB8kLhcizSs+Gp5O fjord-test"]
    private_key_file = "../keys/id_ed25519"
  }
}

host "nokey" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN0KfoilDtFujXLq7JNb4fsw/EZ9EB8kLhcizSs+Gp5O fjord-test"]
    private_key_file = "../keys/id_missing" # ERROR: no such file or directory
  }
}

host "public" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN0KfoilDtFujXLq7JNb4fsw/EZ9EB8kLhcizSs+Gp5O fjord-test"]
    private_key_file = "../keys/id_ed25519.pub" # ERROR: is a public key
  }
}

host "stranger" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "../keys/id_ed25519" # ERROR: is not among authorized_keys
  }
}

host "locked" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN0KfoilDtFujXLq7JNb4fsw/EZ9EB8kLhcizSs+Gp5O fjord-test"]
    private_key_file = "../keys/id_encrypted" # ERROR: is protected by a passphrase
  }
}
