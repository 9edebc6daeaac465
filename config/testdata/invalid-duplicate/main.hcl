pool "default" {
  path = "/var/lib/fjord/pool"
}

pool "default" { # ERROR: Duplicate pool "default"
  path = "/srv/other"
}

network "lab" {
  cidr = "192.168.150.0/24"
  dhcp = true # ERROR: Unsupported argument
}

widget "x" { # ERROR: Unsupported block type
}
