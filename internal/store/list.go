package store

// The order lists' ids, kept in each member node's state (listBits).
const (
	listNone uint32 = iota
	listWindow
	listProbation
	listProtected
)

// orderList is an intrusive doubly linked list of nodes, newest at the
// front: the eviction order of one segment of a shard (the LRU policy uses
// probation alone). Nodes carry their own links and the list's id, so a
// list costs no allocation per entry and finds a node's neighbours without
// a lookup. Not safe for concurrent use: the shard lock guards it.
type orderList[K comparable, V any] struct {
	head, tail *node[K, V]
	len        int
	id         uint32
}

// pushFront puts n, in no list, at the front.
func (l *orderList[K, V]) pushFront(n *node[K, V]) {
	l.link(n)
	n.setList(l.id)
}

func (l *orderList[K, V]) link(n *node[K, V]) {
	n.prev, n.next = nil, l.head
	if l.head != nil {
		l.head.prev = n
	} else {
		l.tail = n
	}
	l.head = n
	l.len++
}

// remove takes n, a member, out of the list.
func (l *orderList[K, V]) remove(n *node[K, V]) {
	l.unlink(n)
	n.setList(listNone)
}

func (l *orderList[K, V]) unlink(n *node[K, V]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = nil, nil // no stale links keep other nodes alive
	l.len--
}

// moveToFront moves n, a member, to the front.
func (l *orderList[K, V]) moveToFront(n *node[K, V]) {
	if l.head != n {
		l.unlink(n)
		l.link(n)
	}
}

// replace puts n, in no list, in old's place; old leaves the list.
func (l *orderList[K, V]) replace(old, n *node[K, V]) {
	n.prev, n.next = old.prev, old.next
	if n.prev != nil {
		n.prev.next = n
	} else {
		l.head = n
	}
	if n.next != nil {
		n.next.prev = n
	} else {
		l.tail = n
	}
	old.prev, old.next = nil, nil
	n.setList(l.id)
	old.setList(listNone)
}

// back returns the oldest node, or nil.
func (l *orderList[K, V]) back() *node[K, V] { return l.tail }
