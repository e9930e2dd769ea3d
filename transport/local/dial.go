package local

import (
	"context"
	"net"

	"kplay/transport"
)

var _ transport.HostDialer = (*Conn)(nil)

// DialHost connects from this machine, which is the host.
func (c *Conn) DialHost(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}
