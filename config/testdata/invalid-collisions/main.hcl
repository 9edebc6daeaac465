hypervisor "a" {
  uri = "qemu:///system"
}

hypervisor "b" {
  uri          = "qemu+ssh://root@hv2/system"
  host_key     = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8"
  ssh_key_file = "id"
}

pool "on-a" {
  hypervisor = "a"
  path       = "/var/lib/fjord/a"
}

pool "on-b" {
  hypervisor = "b"
  path       = "/var/lib/fjord/b"
}

network "lab" {
  hypervisor = "a"
  cidr       = "10.0.0.0/16"
}

network "inner" {
  hypervisor = "a"
  cidr       = "10.0.5.0/24" # ERROR: overlaps network "lab"
}

network "elsewhere" {
  hypervisor = "b"
  cidr       = "10.0.0.0/16" # the same range on another hypervisor is fine
}

image "bookworm" {
  path   = "bookworm.qcow2"
  sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
}

host "worker" {
  count      = 5
  hypervisor = "a"
  image      = "bookworm"
  pool       = "on-a"
  network    = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}

host "worker-1" { # ERROR: is taken by host block "worker" too
  hypervisor = "a"
  image      = "bookworm"
  pool       = "on-a"
  network    = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}

host "db" {
  hypervisor = "a"
  image      = "bookworm"
  pool       = "on-b" # ERROR: pool "on-b" is on hypervisor "b", the host on "a"
  network    = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}
