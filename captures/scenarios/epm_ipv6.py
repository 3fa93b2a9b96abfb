"""IPv6 endpoint resolution from impacket (no authentication), all through
[::1]:135: an ept_lookup of all elements (max_ents 500: one answer in two
fragments), then for SAMR and SRVSVC in turn epm.hept_map, a new connection to
the announced dynamic port on ::1, a bind and the calls from pipecalls.py.
Samba leaves 0.0.0.0 in the IP floor of every tower it sends to an IPv6 client."""
import epmcalls
import lab
import pipecalls

dce = epmcalls.bound_epm(lab.HOST6)
entries, handle, answers = epmcalls.lookup(dce, max_ents=500)
dce.disconnect()
tcp = [epmcalls.tower_binding(e) for e in entries]
tcp = [b for b in tcp if b.startswith("ncacn_ip_tcp:")]
lab.say("ept_lookup: %d entries in %d answer(s), TCP: %s" % (len(entries), len(answers), " ".join(tcp)))

for name in ("samr", "srvsvc"):
    iface = pipecalls.IFACES[name]
    binding = lab.resolve(iface, host=lab.HOST6)
    dce = lab.connect(iface, host=lab.HOST6, binding=binding)
    lab.say("%s: %d calls on [%s]:%d" % (name, pipecalls.run(pipecalls.CALLS[name](dce)),
                                         lab.HOST6, lab.port_of(binding)))
    dce.disconnect()
