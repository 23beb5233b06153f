package resonance

import (
	"encoding/json"
	"errors"
	"fmt"
)

// A packed node is the one text value in which GetNodePacked, ListNodesPacked
// and ListNodesWithoutEmbeddingPacked (queries/nodes.sql) return a node's text
// columns: the byte lengths of all of them but meta, as decimals separated
// by ',' and ended by ':', then the texts back to back, meta last:
//
//	16,8,21,9,10,17,27,10:docs-node-000001document…{"source":"bench"}
//
// A NULL packs like "" (its length is empty), as the graph API reads both
// as "". The fields share the packed string's memory; Meta is a copy, as
// it is bytes the caller may change.

// packedFields is how many text fields precede meta in a packed node with
// its id; GetNodePacked's rows omit the id.
const packedFields = 8

var errPacked = errors.New("malformed packed node")

// unpackNode fills the text fields of n from a packed node. withID says
// whether the packed value starts with the node's id.
func unpackNode(n *Node, p string, withID bool) error {
	fields := [packedFields]*string{&n.ID, &n.Type, &n.Title, &n.Domain, &n.Layer, &n.Hash, &n.Summary, &n.Date}
	dst := fields[:]
	if !withID {
		dst = dst[1:]
	}
	var lens [packedFields]int
	i := 0
	for k := range dst {
		v, start := 0, i
		for i < len(p) && p[i] >= '0' && p[i] <= '9' && i-start < 10 {
			v = v*10 + int(p[i]-'0')
			i++
		}
		sep := byte(',')
		if k == len(dst)-1 {
			sep = ':'
		}
		if i >= len(p) || p[i] != sep {
			return fmt.Errorf("%w: %q", errPacked, clip(p))
		}
		i++
		lens[k] = v
	}
	for k, s := range dst {
		if lens[k] > len(p)-i {
			return fmt.Errorf("%w: %q", errPacked, clip(p))
		}
		*s = p[i : i+lens[k]]
		i += lens[k]
	}
	if i < len(p) {
		n.Meta = json.RawMessage(p[i:])
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
