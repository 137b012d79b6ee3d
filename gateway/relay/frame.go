package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A hook frame (both directions):
//
//	u32 n (length of everything after it), u32 id, u8 kind,
//	u32 j (length of the JSON header), j bytes of JSON, n-9-j bytes of body.
type frame struct {
	id     uint32
	kind   byte
	header []byte // a JSON object
	body   []byte
}

// maxFrame bounds what one frame read from a hook may claim, so that a
// corrupt length cannot make the relay allocate without limit.
const maxFrame = 1 << 30

var errFrame = errors.New("malformed hook frame")

// appendFrame appends one encoded frame to dst.
func appendFrame(dst []byte, id uint32, kind byte, header, body []byte) []byte {
	n := 9 + len(header) + len(body)
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	dst = binary.BigEndian.AppendUint32(dst, id)
	dst = append(dst, kind)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(header)))
	dst = append(dst, header...)
	return append(dst, body...)
}

// readFrame reads one frame; header and body share one fresh allocation.
func readFrame(r *bufio.Reader) (frame, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return frame{}, err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n < 9 || n > maxFrame {
		return frame{}, fmt.Errorf("%w: length %d", errFrame, n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return frame{}, err
	}
	j := binary.BigEndian.Uint32(buf[5:9])
	if uint64(j) > uint64(n-9) {
		return frame{}, fmt.Errorf("%w: header length %d of %d", errFrame, j, n)
	}
	return frame{
		id:     binary.BigEndian.Uint32(buf[0:4]),
		kind:   buf[4],
		header: buf[9 : 9+j],
		body:   buf[9+j:],
	}, nil
}
