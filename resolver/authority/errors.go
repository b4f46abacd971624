package authority

import "errors"

// ErrBadZone reports zone data that cannot be served.
var ErrBadZone = errors.New("authority: bad zone")

// ErrBadSteering reports a steering configuration that cannot be served.
var ErrBadSteering = errors.New("authority: bad steering")
