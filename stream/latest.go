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
func (l *Latest[T]) Put(v T) (dropped bool) {
	for {
		select {
		case l.ch <- v:
			return dropped
		default:
		}
		select {
		case <-l.ch:
			dropped = true
		default:
		}
	}
}

// C is the channel to receive from.
func (l *Latest[T]) C() <-chan T { return l.ch }
