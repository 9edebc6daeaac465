# A project on libvirt's built-in test driver: plans run without a daemon.
fjord {
  project = "cli"
}

hypervisor "test" {
  uri       = "test:///default"
  virt_type = "qemu"
}

pool "default-pool" {
  path = "/default-pool"
}

pool "fresh" {
  path = "/srv/fjord/fresh"
}

network "lab" {
  cidr = "10.20.0.0/24"
}

image "deb" {
  path   = "deb.qcow2" # a 512-byte qcow2 header: what validate reads
  sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
}

host "web" {
  count   = 2
  image   = "deb"
  pool    = "fresh"
  network = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN0KfoilDtFujXLq7JNb4fsw/EZ9EB8kLhcizSs+Gp5O fjord-test"]
    private_key_file = "id_ed25519" # a key made for these tests
  }
}
