pool "default" {
  path = "/var/lib/fjord/pool"
}

pool "default" { # ERROR: Duplicate pool "default"
  path = "/srv/other"
}

network "lab" {
  cidr = "192.168.150.0/24"
  gateway = "192.168.150.1" # ERROR: Unsupported argument
}

widget "x" { # ERROR: Unsupported block type
}
