# Placement mistakes: hosts over several hypervisors, and the pools and
# networks they need.
hypervisor "a" {}

hypervisor "b" {
  uri = "qemu:///session"
}

pool "only-a" {
  hypervisor = "a"
  path       = "/var/lib/fjord/pool-a"
}

pool "everywhere" {
  path = "/var/lib/fjord/pool"
}

network "lab" {
  cidr = "192.168.150.0/24"
}

image "bookworm" {
  path   = "bookworm.qcow2"
  sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
}

host "spread" {
  count       = 2
  hypervisors = ["a", "b"]
  image       = "bookworm"
  pool        = "only-a" # ERROR: is only on hypervisor "a", and the host may be placed on a, b
  network     = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}

host "both" {
  hypervisor  = "a"
  hypervisors = ["a", "b"] # ERROR: set hypervisor (the host is on that one) or hypervisors
  image       = "bookworm"
  pool        = "everywhere"
  network     = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}

host "twice" {
  hypervisors = ["a", "b", "a"] # ERROR: hypervisor "a" is listed twice
  image       = "bookworm"
  pool        = "everywhere"
  network     = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}

host "unknown" {
  hypervisors = ["a", "c"] # ERROR: no hypervisor block named "c"
  image       = "bookworm"
  pool        = "everywhere"
  network     = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}

host "nowhere" { # ERROR: the configuration has several hypervisor blocks
  image   = "bookworm"
  pool    = "everywhere"
  network = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}
