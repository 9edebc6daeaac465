# Locals that refer to locals, in a chain of eight written in reverse, and a
# single link: every run must resolve them all.
locals {
  h = local.g
  g = local.f
  f = local.e
  e = local.d
  d = local.c
  c = local.b
  b = local.a
  a = "2GiB"
  disk_gib = 10
  disk     = "${local.disk_gib}GiB"
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

host "web" {
  image   = "bookworm"
  pool    = "default"
  network = "lab"
  memory  = local.h
  disk    = local.disk
  ssh {
    user             = "admin"
    authorized_keys  = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeXHJbx7+cfr4sVbGMq2u1+3Dnm3oqt1OqFHQRQ1AE8 test"]
    private_key_file = "id"
  }
}
