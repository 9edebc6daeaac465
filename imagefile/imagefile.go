// Package imagefile reads what a disk image file says of itself.
package imagefile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fjord-dev/fjord/model"
)

// qcow2Magic opens every qcow2 image; the virtual size is the big-endian
// 64-bit number at byte 24 of its header.
var qcow2Magic = []byte("QFI\xfb")

// Header reads what an image file says of itself: whether it is
// qcow2, and the size of the disk it holds.
func Header(path string) (qcow2 bool, virtual model.Size, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, 0, err
	}
	if !fi.Mode().IsRegular() {
		return false, 0, fmt.Errorf("%s is not a regular file", path)
	}
	head := make([]byte, 32)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, 0, err
	}
	if n == 32 && bytes.Equal(head[:4], qcow2Magic) {
		return true, model.Size(binary.BigEndian.Uint64(head[24:32])), nil
	}
	return false, model.Size(fi.Size()), nil
}
