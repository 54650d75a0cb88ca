package session

import (
	"github.com/vidseg/vidseg/decode"
)

// watchReconnects follows a live network source that reopens itself
// (Config.Reconnect): the state shows "reconnecting" until it is back, the
// tracker (and its memory of every object) stays as it is, and a source
// gone for longer than GiveUpAfter ends the session as "lost".
func (ss *Session) watchReconnects(r *decode.Reconnecting) {
	r.SetOnState(func(state string, err error) {
		ss.mu.Lock()
		ss.state = state
		ss.mu.Unlock()
		if err != nil {
			ss.log.Info("source lost, reconnecting", "session", ss.ID, "err", err)
		} else {
			ss.reconnects.Add(1)
			ss.log.Info("source back", "session", ss.ID)
		}
	})
}
