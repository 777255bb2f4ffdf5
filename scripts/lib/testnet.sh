# The network and sshd of the end-to-end tests' servers, sourced by
# testnode.sh (one server) and testswarm.sh (a three-node swarm): a bridge on
# the host with NAT out and Docker's forwarding allowed, a network namespace
# per server on it, and an sshd that only takes the test's key.

# bridge_up BR NET: bridge BR with address NET.1/24 (NET: 10.210.0).
bridge_up() {
  local br=$1 net=$2
  ip link add "$br" type bridge
  ip addr add "$net.1/24" dev "$br"
  ip link set "$br" up
  iptables -t nat -A POSTROUTING -s "$net.0/24" ! -o "$br" -j MASQUERADE
  iptables -I DOCKER-USER -i "$br" -j ACCEPT
  iptables -I DOCKER-USER -o "$br" -j ACCEPT
}

# bridge_down BR NET removes what bridge_up made (what is missing is skipped).
bridge_down() {
  local br=$1 net=$2
  ip link del "$br" 2>/dev/null || true
  iptables -t nat -D POSTROUTING -s "$net.0/24" ! -o "$br" -j MASQUERADE 2>/dev/null || true
  iptables -D DOCKER-USER -i "$br" -j ACCEPT 2>/dev/null || true
  iptables -D DOCKER-USER -o "$br" -j ACCEPT 2>/dev/null || true
}

# netns_up NS VETH BR IP GW: namespace NS, its eth0 (IP/24, default route via
# GW) paired with VETH on bridge BR.
netns_up() {
  local ns=$1 veth=$2 br=$3 ip=$4 gw=$5
  ip netns add "$ns"
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  ip link set "$veth" master "$br" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$gw"
}

# netns_down NS VETH: the namespace and, when a leftover process kept the
# namespace alive, its veth pair on the host side (or the next up fails with
# "File exists").
netns_down() {
  ip netns del "$1" 2>/dev/null || true
  ip link del "$2" 2>/dev/null || true
}

# sshd_config FILE IP HOSTKEY KEYS PIDFILE writes the config of an sshd on
# IP:22 that takes only the keys in KEYS (for root), no passwords, no PAM.
sshd_config() {
  cat >"$1" <<CONF
Port 22
ListenAddress $2
HostKey $3
AuthorizedKeysFile $4
PidFile $5
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
CONF
  mkdir -p /run/sshd
}
