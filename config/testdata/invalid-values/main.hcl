hypervisor "kvm" {
  uri = "kvm://localhost" # ERROR: fjord drives QEMU guests
}

hypervisor "typo" {
  uri = "qemu:///sytem" # ERROR: a QEMU connection is /system or /session
}

hypervisor "transport" {
  uri = "qemu+telnet://host/system" # ERROR: transport "telnet"
}

hypervisor "unpinned" {
  uri = "qemu+ssh://root@hv2/system" # ERROR: without a pinned host key
}

hypervisor "local-pinned" {
  uri          = "qemu:///system"
  host_key     = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8" # ERROR: does not go over SSH
  ssh_key_file = "id"
}

hypervisor "two-trusts" {
  uri          = "qemu+ssh://root@hv4/system"
  host_key     = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8"
  known_hosts  = "known_hosts" # ERROR: set host_key or known_hosts, not both
  ssh_key_file = "id"
}

hypervisor "garbled" {
  uri          = "qemu+ssh://root@hv3/system"
  host_key     = "ssh-ed25519 not-a-key" # ERROR: is not an SSH public key
  ssh_key_file = "id"
}

pool "default" {
  hypervisor = "kvm"
  path       = "/var/lib/fjord/pool"
}

network "lab" {
  hypervisor = "kvm"
  cidr       = "192.168.150.0/24"
}

image "bookworm" {
  path   = "bookworm.qcow2"
  sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
}

host "web" {
  hypervisor = "kvm"
  image      = "bookworm"
  pool       = "default"
  network    = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
  docker {
    waive = {
      "guest.kvm" = " " # ERROR: Waiver without a reason
    }
    authz {
      allowed_capabilities = ["NET_BIND_SERVICE", "CAP_FOO"] # ERROR: is not a Linux capability
    }
  }
}
