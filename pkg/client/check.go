package client

import (
	"bytes"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/perfgo/perfgo/pkg/datatype"
)

// A measuring tool must not count a wrong answer as a success, so every
// response on the measured path is checked: it is a v2 infer response and
// carries the outputs asked for, with as many bytes as they declare. The
// checks walk the bytes in place and allocate nothing unless they fail.

// outputSpec is what every response to one Prepared must carry. It is
// built at Prepare and shared, read-only, by the Prepared's Calls.
type outputSpec struct {
	// names are the requested outputs; empty asks for all of them, and
	// then any non-empty set of outputs will do. Expected outputs not
	// requested by name follow, from index requested.
	names     []string
	requested int
	// want is nil without Expected; else, by index in names, the
	// expected output (nil for an output without expectation).
	want []*Tensor
}

func newOutputSpec(names []string) *outputSpec {
	return &outputSpec{names: names, requested: len(names)}
}

// outputCheck checks responses against a spec with scratch of its own: it
// belongs to one Call and is used by one goroutine at a time.
type outputCheck struct {
	*outputSpec
	// seen marks the names found in the response being checked.
	seen []bool
	// loc locates the named outputs in the HTTP response being checked,
	// when the spec has expected outputs.
	loc []outputLoc
}

func newOutputCheck(names []string) *outputCheck { return newOutputSpec(names).newCheck() }

// newCheck returns a check of s with its own scratch.
func (s *outputSpec) newCheck() *outputCheck {
	c := &outputCheck{}
	c.use(s)
	return c
}

// use makes c check against s from now on. It allocates only when s names
// more outputs than any spec c used before.
func (c *outputCheck) use(s *outputSpec) {
	c.outputSpec = s
	n := len(s.names)
	if cap(c.seen) < n {
		c.seen = make([]bool, n)
	}
	c.seen = c.seen[:n]
	if s.want != nil && cap(c.loc) < n {
		c.loc = make([]outputLoc, n)
	}
	c.loc = c.loc[:min(n, cap(c.loc))]
}

// see marks the requested output name matches, by eq, and returns its
// index in names; -1 when it is not one, or was seen already.
func (c *outputCheck) see(name []byte, eq func([]byte, string) bool) int {
	for i, w := range c.names {
		if !c.seen[i] && eq(name, w) {
			c.seen[i] = true
			return i
		}
	}
	return -1
}

// missing reports the first requested output not seen, or an empty
// response when none was requested by name.
func (c *outputCheck) missing(outputs int) error {
	for i, ok := range c.seen {
		switch {
		case ok:
		case i >= c.requested:
			return &validationError{fmt.Sprintf("response has no output %q, expected", c.names[i])}
		default:
			return fmt.Errorf("response has no output %q", c.names[i])
		}
	}
	if outputs == 0 {
		return fmt.Errorf("response has no outputs")
	}
	return nil
}

// checkHTTP checks a v2 HTTP infer response body. headerLen is
// Inference-Header-Content-Length as for splitInferBody.
func (c *outputCheck) checkHTTP(body []byte, headerLen int) error {
	header, bin, err := splitInferBody(body, headerLen)
	if err != nil {
		return err
	}
	clear(c.seen)
	s := jsonScan{b: header}
	if s.peek() != '{' {
		return fmt.Errorf("response is not a v2 JSON object (starts with %q)", start(header))
	}
	var (
		outputs  = -1 // -1: no "outputs" array
		declared int64
		problem  error // the first thing wrong with valid JSON
	)
	s.open()
	for n := 0; s.more('}', n); n++ {
		if !jsonStrEq(s.key(), "outputs") {
			s.value()
			continue
		}
		if s.peek() != '[' {
			s.value()
			problem = cmpOr(problem, fmt.Errorf(`response "outputs" is not an array`))
			continue
		}
		outputs = 0
		s.open()
		for ; s.more(']', outputs); outputs++ {
			o := s.output()
			at := declared
			switch {
			case !o.object:
				problem = cmpOr(problem, fmt.Errorf("response output %d is not an object", outputs))
			case o.name == nil:
				problem = cmpOr(problem, fmt.Errorf("response output %d has no name", outputs))
			case o.size == -2:
				problem = cmpOr(problem, fmt.Errorf("response output %q: binary_data_size is not a non-negative integer", o.name))
			case o.size >= 0:
				declared = min(declared+o.size, 1<<62) // sizes are < 1e18: no overflow
			case !o.data && !o.shm:
				problem = cmpOr(problem, fmt.Errorf(`response output %q has neither "data" nor binary_data_size`, o.name))
			}
			if o.name == nil {
				continue
			}
			if i := c.see(o.name, jsonStrEq); i >= 0 && c.want != nil {
				c.loc[i] = outputLoc{at: at, size: o.size}
				if o.size < 0 {
					c.loc[i].size = locNone
					if o.data {
						c.loc[i].size = locJSON
					}
				}
			}
		}
	}
	s.end()
	switch {
	case s.bad:
		return fmt.Errorf("response header is not valid JSON (error at byte %d; starts with %q)", s.i, start(header))
	case problem != nil:
		return problem
	case outputs < 0:
		return fmt.Errorf(`response has no "outputs" array`)
	}
	if err := c.missing(outputs); err != nil {
		return err
	}
	if declared != int64(len(bin)) {
		return fmt.Errorf("binary outputs declare %d bytes, the body carries %d", declared, len(bin))
	}
	if c.want != nil {
		return c.compareHTTP(body, headerLen, bin)
	}
	return nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// start is the beginning of b, for messages.
func start(b []byte) []byte { return b[:min(len(b), 16)] }

// jsonMaxDepth is encoding/json's nesting limit, so that both agree on
// what is valid.
const jsonMaxDepth = 10000

// jsonScan is a validating JSON tokenizer over b. A syntax error sets bad
// and moves to the end, so that every loop ends.
type jsonScan struct {
	b     []byte
	i     int
	depth int
	bad   bool
}

func (s *jsonScan) fail() { s.bad, s.i = true, len(s.b) }

// peek skips white space and returns the next byte, 0 at the end.
func (s *jsonScan) peek() byte {
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\n', '\r':
		default:
			return c
		}
	}
	return 0
}

// end checks that only white space is left.
func (s *jsonScan) end() {
	if s.peek(); s.i < len(s.b) {
		s.fail()
	}
}

// open consumes the '{' or '[' peek returned.
func (s *jsonScan) open() {
	s.i++
	if s.depth++; s.depth > jsonMaxDepth {
		s.fail()
	}
}

// more is called before each member of an object or element of an array
// (n is how many came before): it consumes the ',' or the closing byte and
// reports whether a member follows.
func (s *jsonScan) more(closing byte, n int) bool {
	c := s.peek()
	switch {
	case s.bad:
		return false
	case c == closing:
		s.i++
		s.depth--
		return false
	case n == 0:
		return true
	case c == ',':
		s.i++
		return true
	}
	s.fail()
	return false
}

// key reads a member's name and its colon.
func (s *jsonScan) key() []byte {
	if s.peek() != '"' {
		s.fail()
		return nil
	}
	k := s.str()
	if s.peek() != ':' {
		s.fail()
		return nil
	}
	s.i++
	return k
}

// str reads the string peek found and returns its raw contents (escapes
// not decoded).
func (s *jsonScan) str() []byte {
	s.i++
	from := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[from : s.i-1]
		case c < 0x20:
			s.fail()
			return nil
		case c == '\\':
			if s.i+1 >= len(s.b) {
				s.fail()
				return nil
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) || hex4(s.b[s.i+2:s.i+6]) < 0 {
					s.fail()
					return nil
				}
				s.i += 6
			default:
				s.fail()
				return nil
			}
		default:
			s.i++
		}
	}
	s.fail()
	return nil
}

// hex4 decodes four hex digits, -1 if they are not.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// digits consumes a run of digits and returns how many.
func (s *jsonScan) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// num reads the number peek found and returns its text.
func (s *jsonScan) num() []byte {
	from := s.i
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		s.fail()
		return nil
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			s.fail()
			return nil
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			s.fail()
			return nil
		}
	}
	return s.b[from:s.i]
}

// value skips one value of any kind, checking its syntax.
func (s *jsonScan) value() {
	switch c := s.peek(); {
	case c == '{':
		s.open()
		for n := 0; s.more('}', n); n++ {
			s.key()
			s.value()
		}
	case c == '[':
		s.open()
		for n := 0; s.more(']', n); n++ {
			s.value()
		}
	case c == '"':
		s.str()
	case c == '-' || c >= '0' && c <= '9':
		s.num()
	case c == 't':
		s.lit("true")
	case c == 'f':
		s.lit("false")
	case c == 'n':
		s.lit("null")
	default:
		s.fail()
	}
}

func (s *jsonScan) lit(word string) {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.fail()
		return
	}
	s.i += len(word)
}

// jsonOutput is what checkHTTP needs of one output.
type jsonOutput struct {
	object bool
	name   []byte // raw; nil when absent or not a string
	// size is binary_data_size: -1 when absent, -2 when not a
	// non-negative integer.
	size int64
	data bool // "data" is present
	shm  bool // the output went to shared memory
}

// output reads one element of "outputs".
func (s *jsonScan) output() jsonOutput {
	o := jsonOutput{size: -1}
	if s.peek() != '{' {
		s.value()
		return o
	}
	o.object = true
	s.open()
	for n := 0; s.more('}', n); n++ {
		k := s.key()
		switch {
		case jsonStrEq(k, "name") && s.peek() == '"':
			o.name = s.str()
		case jsonStrEq(k, "data"):
			o.data = true
			s.value()
		case jsonStrEq(k, "parameters") && s.peek() == '{':
			s.open()
			for m := 0; s.more('}', m); m++ {
				switch p := s.key(); {
				case jsonStrEq(p, "binary_data_size"):
					o.size = s.size()
				case jsonStrEq(p, "shared_memory_region"):
					o.shm = true
					s.value()
				default:
					s.value()
				}
			}
		default:
			s.value()
		}
	}
	return o
}

// size reads a non-negative integer of up to 18 digits, -2 for any other value.
func (s *jsonScan) size() int64 {
	if c := s.peek(); c != '-' && (c < '0' || c > '9') {
		s.value()
		return -2
	}
	t := s.num()
	n := int64(parseHeaderLen(t))
	if n < 0 {
		return -2
	}
	return n
}

// jsonStrEq reports whether the raw JSON string contents raw decode to
// want, without allocating. Escapes decode as encoding/json does (a lone
// surrogate is U+FFFD).
func jsonStrEq(raw []byte, want string) bool {
	if string(raw) == want && bytes.IndexByte(raw, '\\') < 0 {
		return true
	}
	var buf [utf8.UTFMax]byte
	j := 0
	for i := 0; i < len(raw); {
		c := raw[i]
		if c < utf8.RuneSelf && c != '\\' {
			if j >= len(want) || want[j] != c {
				return false
			}
			i++
			j++
			continue
		}
		var r rune
		switch {
		case c != '\\':
			// Invalid UTF-8 decodes as U+FFFD, as in encoding/json.
			var size int
			r, size = utf8.DecodeRune(raw[i:])
			i += size - 2 // the escapes' advance below
		case raw[i+1] == 'b':
			r = '\b'
		case raw[i+1] == 'f':
			r = '\f'
		case raw[i+1] == 'n':
			r = '\n'
		case raw[i+1] == 'r':
			r = '\r'
		case raw[i+1] == 't':
			r = '\t'
		case raw[i+1] == 'u':
			r = hex4(raw[i+2:])
			if utf16.IsSurrogate(r) {
				r = utf8.RuneError
				if i+12 <= len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
					if r2 := utf16.DecodeRune(hex4(raw[i+2:]), hex4(raw[i+8:])); r2 != utf8.RuneError {
						r = r2
						i += 6
					}
				}
			}
			i += 4
		default: // '"', '\\', '/'
			r = rune(raw[i+1])
		}
		i += 2
		n := utf8.EncodeRune(buf[:], r)
		if len(want)-j < n || want[j:j+n] != string(buf[:n]) {
			return false
		}
		j += n
	}
	return j == len(want)
}

// Field numbers of ModelInferResponse.InferOutputTensor.
const (
	fieldOutName     = 1
	fieldOutDatatype = 2
	fieldOutShape    = 3
	fieldOutContents = 5
	fieldOutParams   = 4
)

// elemTypes are the datatypes, looked up by name without allocating.
var elemTypes = datatype.All()

func lookupType(name []byte) datatype.Type {
	for _, t := range elemTypes {
		if string(name) == t.String() {
			return t
		}
	}
	return datatype.Invalid
}

// checkPB checks a serialized ModelInferResponse that scanInferResponse
// accepted (s is its summary): the requested outputs are there and each
// raw_output_contents entry holds what its output's shape and datatype
// need. Outputs carried in contents are accepted as they are.
func (c *outputCheck) checkPB(b []byte, s inferSummary) error {
	clear(c.seen)
	// Outputs in shared memory carry no data: a server sends an empty
	// raw entry for each, or (as Triton indexes them) none at all.
	skipSHMRaw := false
	if s.raw > 0 && s.raw != s.outputs {
		if n, err := countSHMOutputs(b); err != nil || s.raw != s.outputs-n {
			return fmt.Errorf("response has %d outputs but %d raw_output_contents", s.outputs, s.raw)
		}
		skipSHMRaw = true
	}
	outs, raws := b, b
	contents := false // an expected output is in a contents field
	for {
		o, ok := nextBytesField(&outs, fieldInferRespOutputs)
		if !ok {
			break
		}
		t, err := scanOutputTensor(o)
		if err != nil {
			return err
		}
		i := c.see(t.name, func(b []byte, s string) bool { return string(b) == s })
		w := (*Tensor)(nil)
		if i >= 0 && c.want != nil {
			w = c.want[i]
		}
		if t.shm && w != nil {
			return &validationError{fmt.Sprintf("output %q was placed in shared memory and carries no data to compare with the expected", t.name)}
		}
		if s.raw == 0 || t.shm && skipSHMRaw {
			contents = contents || w != nil
			continue
		}
		raw, _ := nextBytesField(&raws, fieldInferRespRaw)
		if t.shm {
			if len(raw) > 0 {
				return fmt.Errorf("response output %q is in shared memory region and also has %d raw bytes", t.name, len(raw))
			}
			continue
		}
		if err := t.checkRaw(raw); err != nil {
			return err
		}
		if w != nil {
			if err := compareOutput(w, raw); err != nil {
				return err
			}
		}
	}
	if err := c.missing(s.outputs); err != nil {
		return err
	}
	if contents {
		return c.comparePBContents(b)
	}
	return nil
}

// nextBytesField returns the next length-delimited field num of b and
// advances b past it; b was validated by scanInferResponse.
func nextBytesField(b *[]byte, num protowire.Number) ([]byte, bool) {
	for len(*b) > 0 {
		n, typ, k := protowire.ConsumeTag(*b)
		if k < 0 {
			return nil, false
		}
		*b = (*b)[k:]
		if n == num && typ == protowire.BytesType {
			v, k := protowire.ConsumeBytes(*b)
			if k < 0 {
				return nil, false
			}
			*b = (*b)[k:]
			return v, true
		}
		k = protowire.ConsumeFieldValue(n, typ, *b)
		if k < 0 {
			return nil, false
		}
		*b = (*b)[k:]
	}
	return nil, false
}

// pbOutput is what checkPB needs of one InferOutputTensor.
type pbOutput struct {
	name, datatype []byte
	// elems is the product of the shape, -1 when it overflows or a
	// dimension is negative.
	elems int64
	// shm: the output's parameters name a shared memory region.
	shm bool
}

// countSHMOutputs counts the outputs of a response (validated by
// scanInferResponse) placed in shared memory.
func countSHMOutputs(b []byte) (int, error) {
	n := 0
	for {
		o, ok := nextBytesField(&b, fieldInferRespOutputs)
		if !ok {
			return n, nil
		}
		t, err := scanOutputTensor(o)
		if err != nil {
			return n, err
		}
		if t.shm {
			n++
		}
	}
}

// isSHMParam says whether a parameters map entry's key is
// shared_memory_region.
func isSHMParam(entry []byte) bool {
	for len(entry) > 0 {
		num, typ, n := protowire.ConsumeTag(entry)
		if n < 0 {
			return false
		}
		entry = entry[n:]
		if num == fieldMapKey && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(entry)
			return n >= 0 && string(v) == ParamSharedMemoryRegion
		}
		if n = protowire.ConsumeFieldValue(num, typ, entry); n < 0 {
			return false
		}
		entry = entry[n:]
	}
	return false
}

// scanOutputTensor reads an InferOutputTensor without allocating.
func scanOutputTensor(b []byte) (pbOutput, error) {
	t := pbOutput{elems: 1}
	dim := func(d uint64) {
		switch {
		case t.elems < 0:
		case int64(d) < 0 || d != 0 && uint64(t.elems) > (1<<62)/d:
			t.elems = -1
		default:
			t.elems *= int64(d)
		}
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return t, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case typ == protowire.BytesType && (num == fieldOutName || num == fieldOutDatatype || num == fieldOutShape):
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return t, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
			}
			b = b[n:]
			switch num {
			case fieldOutName:
				t.name = v
			case fieldOutDatatype:
				t.datatype = v
			default: // packed shape
				for len(v) > 0 {
					d, n := protowire.ConsumeVarint(v)
					if n < 0 {
						return t, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
					}
					v = v[n:]
					dim(d)
				}
			}
		case typ == protowire.BytesType && num == fieldOutParams:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return t, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
			}
			b = b[n:]
			t.shm = t.shm || isSHMParam(v)
		case typ == protowire.VarintType && num == fieldOutShape:
			d, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return t, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
			}
			b = b[n:]
			dim(d)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return t, fmt.Errorf("%w: %v", errWire, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return t, nil
}

// checkRaw checks that raw holds exactly the elements of t.
func (t *pbOutput) checkRaw(raw []byte) error {
	typ := lookupType(t.datatype)
	switch {
	case t.elems < 0:
		return fmt.Errorf("response output %q has a negative or overflowing shape", t.name)
	case typ == datatype.Invalid:
		return fmt.Errorf("response output %q has unknown datatype %q", t.name, t.datatype)
	case typ == datatype.Bytes:
		n, err := datatype.BytesElements(raw)
		if err != nil {
			return fmt.Errorf("response output %q: %w", t.name, err)
		}
		if int64(n) != t.elems {
			return fmt.Errorf("response output %q: shape needs %d BYTES elements, the raw contents hold %d", t.name, t.elems, n)
		}
	case t.elems > int64(len(raw)) || t.elems*int64(typ.Size()) != int64(len(raw)):
		return fmt.Errorf("response output %q: shape needs %d %s elements (%d bytes each), the raw contents hold %d bytes", t.name, t.elems, typ, typ.Size(), len(raw))
	}
	return nil
}
