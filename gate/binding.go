package gate

import (
	"crypto/sha256"
	"encoding/binary"
)

// Binding computes the binding key of an app session: a SHA-256 over its
// cookies' names and values in a canonical order. A gate cookie is valid only
// with the app session whose binding it carries; the stores also key
// revocations by it, so raw session ids are never stored.
//
// names and values are parallel; the order of the pairs does not matter.
// It is on the hot path: for the usual one to a few cookies it does not
// allocate.
func Binding(names, values []string) [32]byte {
	var idxArr [8]int
	idx := idxArr[:0]
	for i := range names {
		idx = append(idx, i)
	}
	// Insertion sort: n is tiny, and sort.Slice would allocate.
	for i := 1; i < len(idx); i++ {
		for j := i; j > 0 && less(names, values, idx[j], idx[j-1]); j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
	var bufArr [512]byte
	b := bufArr[:0]
	for _, i := range idx {
		b = appendField(b, names[i])
		b = appendField(b, values[i])
	}
	return sha256.Sum256(b)
}

func less(names, values []string, a, b int) bool {
	if names[a] != names[b] {
		return names[a] < names[b]
	}
	return values[a] < values[b]
}

// BindingMap is Binding for a name-to-value map.
func BindingMap(session map[string]string) [32]byte {
	names := make([]string, 0, len(session))
	values := make([]string, 0, len(session))
	for n, v := range session {
		names = append(names, n)
		values = append(values, v)
	}
	return Binding(names, values)
}

// appendField appends a length-prefixed field so that ("ab","c") and
// ("a","bc") hash differently.
func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}
