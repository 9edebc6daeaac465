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
  docker { # ERROR: live_restore cannot be used with swarm mode
    swarm      = true
    log_driver = "carrier-pigeon" # ERROR: is not one fjord supports
    waive = { # ERROR: no verification check is called "docker.everything"
      "docker.everything" = "please"
    }
    seccomp_profile = "not json" # ERROR: the profile is not JSON
    authz {
      relax = { # ERROR: no fjord-authz rule is called "priviledged"
        priviledged = "typo"
      }
      sensitive_paths      = ["etc"]       # ERROR: "etc" is not an absolute path
      allowed_capabilities = ["SYS ADMIN"] # ERROR: is not a capability name
    }
  }
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAA k"]
    private_key_file = "id"
  }
}
