package pkcs11

import (
	"context"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// sessionPool hands out logged-in read/write sessions on one slot. A session
// runs one operation at a time (PKCS#11 v2.40 §5.6), so each goroutine takes
// its own; at most cap(slots) are open at once and idle ones are reused.
type sessionPool struct {
	ctx  *p11.Ctx
	slot uint
	pin  string

	slots chan struct{}          // one token per session in use
	idle  chan p11.SessionHandle // open, logged in, no operation active

	mu     sync.Mutex
	closed bool
}

func newSessionPool(ctx *p11.Ctx, slot uint, pin string, max int) *sessionPool {
	return &sessionPool{ctx: ctx, slot: slot, pin: pin,
		slots: make(chan struct{}, max), idle: make(chan p11.SessionHandle, max)}
}

// get returns an idle session or opens and logs in a new one, waiting for a
// free place until ctx ends.
func (p *sessionPool) get(ctx context.Context) (p11.SessionHandle, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case sh := <-p.idle:
		return sh, nil
	default:
	}
	sh, err := p.open()
	if err != nil {
		<-p.slots
		return 0, err
	}
	return sh, nil
}

// open opens a session and logs the user in. Login state is per token and
// application (PKCS#11 v2.40 §5.6, C_Login), so a session opened while
// another is logged in reports CKR_USER_ALREADY_LOGGED_IN, which is fine.
func (p *sessionPool) open() (p11.SessionHandle, error) {
	sh, err := p.ctx.OpenSession(p.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return 0, err
	}
	if err := p.ctx.Login(sh, p11.CKU_USER, p.pin); err != nil && !isCode(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
		_ = p.ctx.CloseSession(sh)
		return 0, err
	}
	return sh, nil
}

// put returns a session; discard closes it instead (after an error that may
// have left it broken or with an operation active).
func (p *sessionPool) put(sh p11.SessionHandle, discard bool) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if discard || closed {
		_ = p.ctx.CloseSession(sh)
	} else {
		p.idle <- sh // never blocks: at most cap(idle) sessions exist
	}
	<-p.slots
}

// close closes the idle sessions; sessions in use are closed when put back.
func (p *sessionPool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	for {
		select {
		case sh := <-p.idle:
			_ = p.ctx.CloseSession(sh)
		default:
			return
		}
	}
}
