package dnssec

import "errors"

var (
	// ErrInvalidConfig reports a Config that New cannot honour.
	ErrInvalidConfig = errors.New("dnssec: invalid config")
	// ErrBadAnchor reports a trust anchor that is not a DS or DNSKEY
	// record, or anchor text that does not parse.
	ErrBadAnchor = errors.New("dnssec: bad trust anchor")
)
