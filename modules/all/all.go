// Package all links every module into the binary: each import registers
// one module in its init.
package all

import (
	_ "kplay/modules/assert"
	_ "kplay/modules/cert"
	_ "kplay/modules/command"
	_ "kplay/modules/copy"
	_ "kplay/modules/debug"
	_ "kplay/modules/file"
	_ "kplay/modules/http_check"
	_ "kplay/modules/k8s_leader"
	_ "kplay/modules/set_fact"
	_ "kplay/modules/shell"
	_ "kplay/modules/systemd"
	_ "kplay/modules/template"
	_ "kplay/modules/wait_for"
)
