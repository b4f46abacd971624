package dnssec_test

import (
	"context"
	"strings"
	"testing"

	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// child is a zone below com. in a test tree.
type child struct {
	origin, text string
	s            resolvertest.Signing
	unsigned     bool
	// ds is what com. publishes: "" the child's own DS, "none" nothing,
	// else the given DS text.
	ds string
}

const zoneHead = `@ 3600 IN SOA ns.@ host.@ 1 7200 3600 1209600 300
@ 3600 IN NS ns.@
ns 3600 IN A 127.0.0.5
`

// tree is a signed root, com. and the children, served in-process.
type tree struct {
	srv    *resolvertest.SignedServer
	anchor []dns.RR
	zones  map[string]*resolvertest.SignedZone
}

func newTree(t testing.TB, comSigning resolvertest.Signing, children ...child) *tree {
	t.Helper()
	tr := &tree{zones: map[string]*resolvertest.SignedZone{}}
	var plain []*authority.Zone
	var signed []*resolvertest.SignedZone
	var com strings.Builder
	com.WriteString("com. 3600 IN SOA a.gtld.com. host.com. 1 7200 3600 1209600 300\ncom. 3600 IN NS a.gtld.com.\na.gtld.com. 3600 IN A 127.0.0.3\n")
	for _, c := range children {
		text := strings.ReplaceAll(zoneHead, "@", c.origin) + c.text
		com.WriteString(c.origin + " 3600 IN NS ns." + c.origin + "\nns." + c.origin + " 3600 IN A 127.0.0.5\n")
		if c.unsigned {
			z, err := authority.ParseZone(strings.NewReader(text), c.origin, c.origin)
			if err != nil {
				t.Fatal(err)
			}
			plain = append(plain, z)
			continue
		}
		z, err := resolvertest.SignZone(c.origin, text, c.s)
		if err != nil {
			t.Fatal(err)
		}
		signed = append(signed, z)
		tr.zones[c.origin] = z
		switch c.ds {
		case "":
			com.WriteString(z.DS() + "\n")
		case "none":
		default:
			com.WriteString(c.ds + "\n")
		}
	}
	cz, err := resolvertest.SignZone("com.", com.String(), comSigning)
	if err != nil {
		t.Fatal(err)
	}
	root := ". 86400 IN SOA a.root. host.root. 1 1800 900 604800 86400\n. 86400 IN NS a.root.\na.root. 86400 IN A 127.0.0.2\n" +
		"com. 172800 IN NS a.gtld.com.\na.gtld.com. 172800 IN A 127.0.0.3\n" + cz.DS() + "\n"
	rz, err := resolvertest.SignZone(".", root, resolvertest.Signing{})
	if err != nil {
		t.Fatal(err)
	}
	tr.zones["com."], tr.zones["."] = cz, rz
	signed = append(signed, cz, rz)
	tr.srv = resolvertest.NewSignedServer(signed, plain)
	tr.anchor = []dns.RR{rz.Key().DS()}
	return tr
}

func (tr *tree) ask(name string, qtype uint16) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(4096, true)
	return tr.srv.Answer(q)
}

func (tr *tree) fetcher() dnssec.FetchFunc {
	return func(_ context.Context, name string, qtype uint16) (*dns.Msg, error) {
		return tr.ask(name, qtype), nil
	}
}

func (tr *tree) validator(t testing.TB, cfg dnssec.Config) *dnssec.Validator {
	t.Helper()
	if cfg.Anchors == nil {
		cfg.Anchors = tr.anchor
	}
	v, err := dnssec.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// check asks name/qtype and validates the response.
func (tr *tree) check(t testing.TB, v *dnssec.Validator, name string, qtype uint16) (dnssec.Result, *dns.Msg) {
	t.Helper()
	resp := tr.ask(name, qtype)
	return v.Validate(context.Background(), tr.fetcher(), dns.Question{Name: dns.Fqdn(name), Qtype: qtype, Qclass: dns.ClassINET}, resp), resp
}

func want(t testing.TB, r dnssec.Result, status dnssec.Status, ede uint16) {
	t.Helper()
	if r.Status != status || (ede != 0xffff && r.EDE != ede) {
		t.Fatalf("got %v EDE %d (%s), want %v EDE %d", r.Status, r.EDE, r.Reason, status, ede)
	}
}

const any = 0xffff // want: any EDE
