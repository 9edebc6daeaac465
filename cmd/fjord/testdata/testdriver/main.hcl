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
  path   = "/nonexistent/deb.qcow2"
  sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
}

host "web" {
  count   = 2
  image   = "deb"
  pool    = "fresh"
  network = "lab"
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 k"]
    private_key_file = "/nonexistent/id_ed25519"
  }
}
