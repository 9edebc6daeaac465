docker_defaults {
  log_driver = "syslog"
  network "backend" {
    internal = true
  }
}

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

host "hardened" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 k"]
    private_key_file = "id"
  }
}

host "loose" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  sysctls = { "vm.max_map_count" = "262144" }
  docker {
    icc             = true
    live_restore    = false
    swarm           = true
    data_disk       = "0"
    seccomp_profile = file("seccomp.json")
    waive = {
      "guest.kvm" = "lab machine without KVM"
      "sysctl.*"  = "kernel settings managed elsewhere"
    }
    network "frontend" {}
    authz {
      relax = {
        host_network = "the load balancer binds the host's ports"
      }
      sensitive_paths      = ["/", "/etc", "/srv/secrets"]
      allowed_capabilities = ["NET_BIND_SERVICE", "net_admin"]
    }
  }
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 k"]
    private_key_file = "id"
    sshd_options     = { MaxSessions = "4", Banner = "/etc/issue.net" }
  }
}
