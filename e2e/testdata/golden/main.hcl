# The e2e golden image: a stock image without Docker (e2e/scripts/build-image.sh
# stock, downloaded by url from the test's server on loopback), a local Debian mirror served to guests on the isolated network's
# host address, a golden image built from the stock one, a host on each.
fjord {
  project = "golden"
}

variable "stock_url" {}
variable "stock_sha256" {}
variable "mirror" {}
# The harness's shared variables file sets these (the image with Docker); unused here.
variable "image_path" {}
variable "image_sha256" {}
variable "ssh_public_key" {}
variable "ssh_private_key_file" {}

# Changed by the test: a different recipe is a different image.
variable "packages" {
  default = []
}

hypervisor "local" {
  uri       = "qemu:///system"
  virt_type = "qemu"
}

pool "golden" {
  path = "/var/lib/fjord/pools/golden"
}

network "golden" {
  cidr = "192.168.163.0/24"
}

image "stock" {
  url          = var.stock_url
  sha256       = var.stock_sha256
  apt_mirror   = var.mirror
  apt_unsigned = true
}

image "docker" {
  build {
    from     = "stock"
    packages = var.packages
  }
}

host "ci" {
  image   = "docker"
  pool    = "golden"
  network = "golden"
  vcpu    = 2
  memory  = "2GiB"
  disk    = "6GiB"

  docker {
    waive = {
      "guest.kvm" = "e2e guests run under software emulation: this machine's KVM cannot boot stock kernels"
      "host.kvm"  = "e2e guests run under software emulation: this machine's KVM cannot boot stock kernels"
    }
  }

  ssh {
    user             = "admin"
    authorized_keys  = [var.ssh_public_key]
    private_key_file = var.ssh_private_key_file
  }
}

# Docker is installed at first boot from the mirror.
host "plain" {
  image   = "stock"
  pool    = "golden"
  network = "golden"
  vcpu    = 2
  memory  = "2GiB"
  disk    = "6GiB"

  docker {
    waive = {
      "guest.kvm" = "e2e guests run under software emulation: this machine's KVM cannot boot stock kernels"
      "host.kvm"  = "e2e guests run under software emulation: this machine's KVM cannot boot stock kernels"
    }
  }

  ssh {
    user             = "admin"
    authorized_keys  = [var.ssh_public_key]
    private_key_file = var.ssh_private_key_file
  }
}

# Set by the test to 1: a host whose sysctls name a key this kernel does
# not have (a typo), which its first boot's setup refuses.
variable "typos" {
  default = 0
}

host "typo" {
  count   = var.typos
  image   = "docker"
  pool    = "golden"
  network = "golden"
  vcpu    = 2
  memory  = "2GiB"
  disk    = "6GiB"
  sysctls = { "vm.max_map_cont" = "262144" }

  docker {
    waive = {
      "guest.kvm" = "e2e guests run under software emulation: this machine's KVM cannot boot stock kernels"
      "host.kvm"  = "e2e guests run under software emulation: this machine's KVM cannot boot stock kernels"
    }
  }

  ssh {
    user             = "admin"
    authorized_keys  = [var.ssh_public_key]
    private_key_file = var.ssh_private_key_file
  }
}
