//! XDP steering program loader. (Being written.)
