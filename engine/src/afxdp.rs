//! AF_XDP: UMEM, fill/completion/RX/TX rings, socket bind, wakeups. (Being written.)
