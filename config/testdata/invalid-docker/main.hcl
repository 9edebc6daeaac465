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

host "web" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  docker {
    swarm      = true # ERROR: live_restore cannot be used with swarm mode
    log_driver = "carrier-pigeon" # ERROR: is not one fjord supports
    waive = {
      "docker.everything" = "please" # ERROR: no verification check is called "docker.everything"
    }
    seccomp_profile = "not json" # ERROR: the profile is not JSON
    authz {
      relax = {
        priviledged = "typo" # ERROR: no fjord-authz rule is called "priviledged"
      }
      sensitive_paths      = ["etc"]       # ERROR: "etc" is not an absolute path
      allowed_capabilities = ["SYS ADMIN"] # ERROR: is not a capability name
    }
  }
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 k"]
    private_key_file = "id"
  }
}

host "allow-all" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  docker {
    seccomp_profile = jsonencode({ defaultAction = "SCMP_ACT_ALLOW", syscalls = [] }) # ERROR: defaultAction SCMP_ACT_ALLOW lets every system call
  }
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 k"]
    private_key_file = "id"
  }
}

# Keys match case-insensitively and the last duplicate wins, as in dockerd.
host "log-all" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  docker {
    seccomp_profile = "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultaction\": \"SCMP_ACT_LOG\"}" # ERROR: defaultAction SCMP_ACT_LOG lets every system call
  }
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 k"]
    private_key_file = "id"
  }
}
