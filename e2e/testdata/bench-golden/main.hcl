# The golden image benchmark (make bench): var.hosts 1-vCPU hosts on
# var.image — the golden image built from the stock one, or the stock image
# itself (Docker installed at first boot from the local mirror).
fjord {
  project = "benchgold"
}

variable "stock_path" {}
variable "stock_sha256" {}
variable "mirror" {}
# The harness's shared variables file sets these (the image with Docker); unused here.
variable "image_path" {}
variable "image_sha256" {}
variable "ssh_public_key" {}
variable "ssh_private_key_file" {}

variable "hosts" {
  default = 1
}
variable "image" {
  default = "docker"
}

hypervisor "local" {
  uri       = "qemu:///system"
  virt_type = "qemu"
}

pool "benchgold" {
  path = "/var/lib/fjord/pools/benchgold"
}

network "benchgold" {
  cidr = "192.168.164.0/24"
}

image "stock" {
  path         = var.stock_path
  sha256       = var.stock_sha256
  apt_mirror   = var.mirror
  apt_unsigned = true
}

image "docker" {
  build {
    from = "stock"
  }
}

host "node" {
  count   = var.hosts
  image   = var.image
  pool    = "benchgold"
  network = "benchgold"
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
