package model

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size is a number of bytes.
type Size uint64

// Binary and decimal units accepted by ParseSize.
const (
	B   Size = 1
	KiB      = 1024 * B
	MiB      = 1024 * KiB
	GiB      = 1024 * MiB
	TiB      = 1024 * GiB
)

var units = map[string]Size{
	"": B, "b": B,
	"kib": KiB, "mib": MiB, "gib": GiB, "tib": TiB,
	"k": 1000, "kb": 1000, "m": 1000 * 1000, "mb": 1000 * 1000,
	"g": 1000 * 1000 * 1000, "gb": 1000 * 1000 * 1000,
	"t": 1000 * 1000 * 1000 * 1000, "tb": 1000 * 1000 * 1000 * 1000,
}

// ParseSize reads sizes such as "2GiB", "512 MiB", "10G" or "1073741824".
// IEC units (KiB, MiB, GiB, TiB) are powers of 1024; K, M, G, T and KB, MB,
// GB, TB are powers of 1000. Fractions are allowed ("1.5GiB") as long as the
// result is a whole number of bytes.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("%q is not a size; write a number with a unit, such as \"2GiB\"", s)
	}
	mult, ok := units[unit]
	if !ok {
		return 0, fmt.Errorf("%q has unknown unit %q; use KiB, MiB, GiB or TiB", s, t[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: %w", s, err)
	}
	v := f * float64(mult)
	if v > math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	if v != math.Trunc(v) {
		return 0, fmt.Errorf("%q is not a whole number of bytes", s)
	}
	return Size(v), nil
}

// String renders the size in the largest IEC unit that divides it exactly.
func (s Size) String() string {
	for _, u := range []struct {
		n string
		v Size
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if s >= u.v && s%u.v == 0 {
			return fmt.Sprintf("%d%s", s/u.v, u.n)
		}
	}
	return fmt.Sprintf("%dB", uint64(s))
}
