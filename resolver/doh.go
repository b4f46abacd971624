package resolver

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/miekg/dns"
)

const dohType = "application/dns-message"

// dohExchange sends m as an RFC 8484 POST and returns the answer with the
// query's ID restored (DoH queries carry ID 0, §4.1).
func (r *Recursive) dohExchange(ctx context.Context, m *dns.Msg, url string) (*dns.Msg, time.Duration, error) {
	id := m.Id
	q := m.Copy()
	q.Id = 0
	wire, err := q.Pack()
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout*2)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(wire))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", dohType)
	req.Header.Set("Accept", dohType)
	start := time.Now()
	resp, err := r.doh.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 65536))
	rtt := time.Since(start)
	if err != nil {
		return nil, rtt, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, rtt, fmt.Errorf("resolver: DoH upstream answered %s", resp.Status)
	}
	out := new(dns.Msg)
	if err := out.Unpack(body); err != nil {
		return nil, rtt, err
	}
	out.Id = id
	return out, rtt, nil
}

// DoHHandler serves a Server over HTTPS as RFC 8484 describes: GET with a
// base64url "dns" parameter or POST with an application/dns-message body,
// answered with application/dns-message and a Cache-Control max-age of the
// smallest TTL. Mount it at /dns-query on a TLS server. It applies the
// Server's access list to the HTTP client's address. Over TLS, the reply
// to a query with an EDNS(0) Padding option is padded to a multiple of
// 468 octets (RFC 7830 §4, RFC 8467 §4.1).
func DoHHandler(s *Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var wire []byte
		var err error
		switch r.Method {
		case http.MethodGet:
			wire, err = base64.RawURLEncoding.DecodeString(r.URL.Query().Get("dns"))
		case http.MethodPost:
			if r.Header.Get("Content-Type") != dohType {
				http.Error(w, "resolver: want Content-Type application/dns-message", http.StatusUnsupportedMediaType)
				return
			}
			wire, err = io.ReadAll(io.LimitReader(r.Body, 65536))
		default:
			http.Error(w, "resolver: use GET or POST", http.StatusMethodNotAllowed)
			return
		}
		if err == nil && len(wire) > dns.MaxMsgSize {
			// Not a DNS message (RFC 1035 §4.2.2: at most 65,535 octets),
			// and not to be cut to one.
			code := http.StatusRequestEntityTooLarge
			if r.Method == http.MethodGet {
				code = http.StatusRequestURITooLong
			}
			http.Error(w, "resolver: DNS message longer than 65535 octets", code)
			return
		}
		req := new(dns.Msg)
		if err != nil || len(wire) < 12 || dnsproto.UnpackQuery(wire, req) != nil {
			http.Error(w, "resolver: malformed DNS message", http.StatusBadRequest)
			return
		}
		remote, _ := net.ResolveTCPAddr("tcp", r.RemoteAddr)
		m := s.answer(remote, &net.TCPAddr{}, req)
		if r.TLS != nil {
			pad(m, req) // RFC 8467 §4: over HTTPS, not in the clear
		}
		out, err := m.Pack()
		if err != nil {
			http.Error(w, "resolver: cannot pack answer", http.StatusInternalServerError)
			return
		}
		minTTL := uint32(0)
		for i, rr := range append(append([]dns.RR(nil), m.Answer...), m.Ns...) {
			if i == 0 || rr.Header().Ttl < minTTL {
				minTTL = rr.Header().Ttl
			}
		}
		w.Header().Set("Content-Type", dohType)
		w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", minTTL))
		w.Write(out)
	})
}
