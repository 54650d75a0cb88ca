package stream

// Latest is a one-slot mailbox: Put replaces whatever is waiting, so a slow
// consumer always gets the newest value and never a backlog.
type Latest[T any] struct {
	ch chan T
}

// NewLatest returns an empty mailbox.
func NewLatest[T any]() *Latest[T] {
	return &Latest[T]{ch: make(chan T, 1)}
}

// Put stores v, dropping a value not yet taken; it reports that one was
// dropped.
func (l *Latest[T]) Put(v T) (dropped bool) { return l.PutDrop(v, nil) }

// PutDrop is Put handing each dropped value to drop (when not nil), to
// release what it holds.
func (l *Latest[T]) PutDrop(v T, drop func(T)) (dropped bool) {
	for {
		select {
		case l.ch <- v:
			return dropped
		default:
		}
		select {
		case old := <-l.ch:
			dropped = true
			if drop != nil {
				drop(old)
			}
		default:
		}
	}
}

// Drain takes a waiting value, if any, and hands it to drop.
func (l *Latest[T]) Drain(drop func(T)) {
	select {
	case old := <-l.ch:
		drop(old)
	default:
	}
}

// C is the channel to receive from.
func (l *Latest[T]) C() <-chan T { return l.ch }
