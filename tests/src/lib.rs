//! Test bed: network namespaces and veth pairs. (Being written.)
