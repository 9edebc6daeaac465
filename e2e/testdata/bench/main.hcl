# The benchmark project (make bench): var.hosts identical 1-vCPU hosts on an
# isolated network, under software emulation like the e2e suite.
fjord {
  project = "bench"
}

variable "image_path" {}
variable "image_sha256" {}
variable "ssh_public_key" {}
variable "ssh_private_key_file" {}

variable "hosts" {
  default = 1
}

hypervisor "local" {
  uri       = "qemu:///system"
  virt_type = "qemu"
}

pool "bench" {
  path = "/var/lib/fjord/pools/bench"
}

network "bench" {
  cidr = "192.168.152.0/24"
}

image "bookworm" {
  path   = var.image_path
  sha256 = var.image_sha256
}

host "node" {
  count   = var.hosts
  image   = "bookworm"
  pool    = "bench"
  network = "bench"
  vcpu    = 1
  memory  = "2GiB"
  disk    = "6GiB"

  docker {
    waive = {
      "guest.kvm" = "benchmark guests run under software emulation"
      "host.kvm"  = "benchmark guests run under software emulation"
    }
  }

  ssh {
    user             = "admin"
    authorized_keys  = [var.ssh_public_key]
    private_key_file = var.ssh_private_key_file
  }
}
