# Two hypervisors, one of which the tests make unreachable.
fjord {
  project = "cli"
}

hypervisor "test" {
  uri       = "test:///default"
  virt_type = "qemu"
}

hypervisor "far" {
  uri       = "test:///default"
  virt_type = "qemu"
}

pool "fresh" {
  path = "/srv/fjord/fresh"
}

network "lab" {
  cidr = "10.20.0.0/24"
}

image "deb" {
  path   = "deb.qcow2"
  sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
}

host "web" {
  hypervisor = "test"
  image      = "deb"
  pool       = "fresh"
  network    = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN0KfoilDtFujXLq7JNb4fsw/EZ9EB8kLhcizSs+Gp5O fjord-test"]
    private_key_file = "../testdriver/id_ed25519"
  }
}

host "edge" {
  hypervisors = ["test", "far"]
  image       = "deb"
  pool        = "fresh"
  network     = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN0KfoilDtFujXLq7JNb4fsw/EZ9EB8kLhcizSs+Gp5O fjord-test"]
    private_key_file = "../testdriver/id_ed25519"
  }
}
