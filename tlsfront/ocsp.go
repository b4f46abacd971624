package tlsfront

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/ocsp"
)

// staple is an OCSP response a certificate carries to clients
// (RFC 6066 §8, RFC 6960).
type staple struct {
	raw     []byte
	refresh time.Time // when to fetch a newer one
	expires time.Time // NextUpdate: never stapled after it
}

// errNotGood reports a responder's answer that the certificate is
// revoked or unknown: the staple in service is dropped at once.
var errNotGood = errors.New("certificate status not good")

// maxOCSPResponse bounds a responder's answer.
const maxOCSPResponse = 64 << 10

// ocspRetry is how long after a failed fetch the next one is tried.
const ocspRetry = 5 * time.Minute

// fetchOCSP asks the certificate's responder for its status and returns
// the response when it says Good.
func (f *Front) fetchOCSP(ctx context.Context, leaf, issuer *x509.Certificate, now time.Time) (staple, error) {
	req, err := ocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		return staple{}, err
	}
	url := leaf.OCSPServer[0]
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req))
	if err != nil {
		return staple{}, err
	}
	hreq.Header.Set("Content-Type", "application/ocsp-request")
	hreq.Header.Set("Accept", "application/ocsp-response")
	resp, err := f.ocspClient.Do(hreq)
	if err != nil {
		return staple{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return staple{}, fmt.Errorf("responder %s answered %d", url, resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxOCSPResponse+1))
	if err != nil {
		return staple{}, err
	}
	if len(raw) > maxOCSPResponse {
		return staple{}, fmt.Errorf("responder %s: response over %d bytes", url, maxOCSPResponse)
	}
	r, err := ocsp.ParseResponseForCert(raw, leaf, issuer)
	if err != nil {
		return staple{}, fmt.Errorf("responder %s: %w", url, err)
	}
	switch {
	case r.Status != ocsp.Good:
		return staple{}, fmt.Errorf("responder %s: %w: %s", url, errNotGood, statusName(r.Status))
	case r.ThisUpdate.After(now.Add(time.Hour)):
		return staple{}, fmt.Errorf("responder %s: response from the future (%s)", url, r.ThisUpdate)
	case !r.NextUpdate.IsZero() && !now.Before(r.NextUpdate):
		return staple{}, fmt.Errorf("responder %s: response expired at %s", url, r.NextUpdate)
	}
	s := staple{raw: raw, expires: r.NextUpdate}
	if r.NextUpdate.IsZero() {
		// No NextUpdate: newer information is always available (RFC 6960
		// §2.4); ask again within the hour, and staple it meanwhile.
		s.expires = now.Add(2 * time.Hour)
		s.refresh = now.Add(time.Hour)
	} else {
		// Halfway to NextUpdate, as Caddy does: room for retries.
		s.refresh = r.ThisUpdate.Add(r.NextUpdate.Sub(r.ThisUpdate) / 2)
		if s.refresh.Before(now) {
			s.refresh = now.Add(r.NextUpdate.Sub(now) / 2)
		}
	}
	return s, nil
}

func statusName(s int) string {
	switch s {
	case ocsp.Revoked:
		return "revoked"
	case ocsp.Unknown:
		return "unknown"
	}
	return fmt.Sprint(s)
}

// refreshStaples fetches OCSP responses for the pairs whose staple is due
// (their certificate names a responder and carries its issuer), and
// publishes a snapshot if any staple changed. A failed fetch keeps the
// staple in service until it expires, and is retried after ocspRetry.
// f.mu is held.
func (f *Front) refreshStaples(ctx context.Context, now time.Time) error {
	if f.cfg.DisableOCSPStapling {
		return nil
	}
	old := f.snap.Load()
	pairs := old.pairs
	var errs []error
	changed := false
	for i, p := range old.pairs {
		leaf := p.cert.Leaf
		if len(leaf.OCSPServer) == 0 || len(p.cert.Certificate) < 2 || now.Before(p.staple.refresh) {
			continue
		}
		issuer, err := x509.ParseCertificate(p.cert.Certificate[1])
		if err != nil {
			continue
		}
		s, err := f.fetchOCSP(ctx, leaf, issuer, now)
		if err != nil {
			err = fmt.Errorf("tlsfront: OCSP for %s: %w", p.pair.CertFile, err)
			f.log.Warn("no new OCSP staple", zap.Error(err))
			errs = append(errs, err)
			s = p.staple
			s.refresh = now.Add(ocspRetry)
			if !now.Before(s.expires) || errors.Is(err, errNotGood) {
				s = staple{refresh: s.refresh} // expired: staple nothing
			}
		}
		if !changed {
			pairs = append([]loaded(nil), old.pairs...)
			changed = true
		}
		pairs[i] = p.withStaple(s)
	}
	if changed {
		f.snap.Store(index(pairs))
	}
	return errors.Join(errs...)
}

// withStaple returns l with its certificate carrying s.
func (l loaded) withStaple(s staple) loaded {
	if !bytes.Equal(l.staple.raw, s.raw) {
		c := *l.cert
		c.OCSPStaple = s.raw
		l.cert = &c
	}
	l.staple = s
	return l
}

// expireStaples drops staples past their NextUpdate (a client must not
// be shown an expired response, RFC 6960 §4.2.2.1). f.mu is held.
func (f *Front) expireStaples(now time.Time) {
	old := f.snap.Load()
	var pairs []loaded
	for i, p := range old.pairs {
		if p.staple.raw != nil && !now.Before(p.staple.expires) {
			if pairs == nil {
				pairs = append([]loaded(nil), old.pairs...)
			}
			pairs[i] = p.withStaple(staple{refresh: p.staple.refresh})
		}
	}
	if pairs != nil {
		f.snap.Store(index(pairs))
	}
}
