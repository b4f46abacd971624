package authority

import "errors"

// ErrBadZone reports zone data that cannot be served.
var ErrBadZone = errors.New("authority: bad zone")
