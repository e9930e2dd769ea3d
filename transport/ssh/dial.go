package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"

	gossh "golang.org/x/crypto/ssh"

	"kplay/transport"
)

var _ transport.HostDialer = (*conn)(nil)

// DialHost opens a TCP connection from the host: sshd connects to address
// and carries the stream in a direct-tcpip channel of this connection.
func (c *conn) DialHost(ctx context.Context, network, address string) (net.Conn, error) {
	if c.isDead() {
		return nil, &transport.UnreachableError{Host: c.name, Err: c.deadErr}
	}
	nc, err := c.client.DialContext(ctx, network, address)
	if err == nil {
		return nc, nil
	}
	var oc *gossh.OpenChannelError
	if errors.As(err, &oc) {
		if oc.Reason == gossh.Prohibited {
			return nil, fmt.Errorf("%s: %w", c.name, transport.ErrDialForbidden)
		}
		// sshd reports the host's own failure (refused, no route) as the
		// message of a ConnectionFailed open error.
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("from %s: %s", c.name, oc.Message)}
	}
	if c.isDead() {
		return nil, &transport.UnreachableError{Host: c.name, Err: c.deadErr}
	}
	return nil, err
}
