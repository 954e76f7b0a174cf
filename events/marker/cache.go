package marker

import "sync"

// mu guards cache: detectors are called from concurrent publishers.
var mu sync.Mutex
