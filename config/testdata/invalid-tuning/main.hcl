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

host "tuned" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  sysctls = {
    "vm.max_map_count"        = "262144"
    "kernel.kptr_restrict"    = "0"  # ERROR: is set by fjord's kernel hardening
    "not a key"               = "1"  # ERROR: is not a sysctl name
    "net.core.somaxconn"      = ""   # ERROR: the value is empty
  }
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
    sshd_options = {
      MaxSessions            = "4"
      PasswordAuthentication = "yes"            # ERROR: fjord's sshd hardening sets it
      AuthorizedKeysFile     = "/tmp/keys"      # ERROR: fjord decides who logs in
      Match                  = "User admin"     # ERROR: would change how the rest of the file is read
      Banner                 = "/etc/issue\nPermitRootLogin yes" # ERROR: holds a control character
      "Max-Startups"         = "10"             # ERROR: is not an sshd_config keyword
    }
  }
}
