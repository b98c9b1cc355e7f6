#!/usr/bin/env python3
"""A DNS client for the tests: dnsq.py SERVER NAME [TYPE] [--tcp]. Prints the response code
and the answers (addresses, or names for PTR), space-separated: "NOERROR 10.60.0.3", or
"timeout". --raw HEX sends those bytes instead (UDP) and prints the reply's hex or "timeout"."""
import socket, struct, sys, random

TYPES = {"A": 1, "PTR": 12, "AAAA": 28, "ANY": 255, "MX": 15}
CODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def encode(name, qtype):
    packet = struct.pack(">HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        packet += bytes([len(label)]) + label.encode()
    return packet + b"\0" + struct.pack(">HH", qtype, 1)


def read_name(data, offset):
    labels = []
    while True:
        length = data[offset]
        if length & 0xC0 == 0xC0:
            labels.append(read_name(data, ((length & 0x3F) << 8) | data[offset + 1])[0])
            return ".".join(labels), offset + 2
        offset += 1
        if length == 0:
            return ".".join(labels), offset
        labels.append(data[offset:offset + length].decode())
        offset += length


def decode(data):
    _, flags, questions, answers, _, _ = struct.unpack(">HHHHHH", data[:12])
    offset = 12
    for _ in range(questions):
        offset = read_name(data, offset)[1] + 4
    words = [CODES.get(flags & 0xF, str(flags & 0xF))]
    if flags & 0x0200:
        words.append("TC")
    for _ in range(answers):
        offset = read_name(data, offset)[1]
        rtype, _, _, length = struct.unpack(">HHIH", data[offset:offset + 10])
        offset += 10
        rdata = data[offset:offset + length]
        if rtype == 1:
            words.append(socket.inet_ntop(socket.AF_INET, rdata))
        elif rtype == 28:
            words.append(socket.inet_ntop(socket.AF_INET6, rdata))
        elif rtype == 12:
            words.append(read_name(data, offset)[0])
        offset += length
    return " ".join(words)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    server = args[0]
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    if "--raw" in sys.argv:
        payload = bytes.fromhex(sys.argv[sys.argv.index("--raw") + 1])
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.settimeout(1)
        sock.sendto(payload, (server, 53))
        try:
            print(sock.recv(65535).hex())
        except socket.timeout:
            print("timeout")
        return
    query = encode(args[1], TYPES[args[2] if len(args) > 2 else "A"])
    try:
        if "--tcp" in sys.argv:
            sock = socket.create_connection((server, 53), timeout=2)
            sock.sendall(struct.pack(">H", len(query)) + query)
            length = struct.unpack(">H", sock.recv(2))[0]
            data = b""
            while len(data) < length:
                data += sock.recv(length - len(data))
        else:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.settimeout(2)
            sock.sendto(query, (server, 53))
            data = sock.recv(65535)
        print(decode(data))
    except (socket.timeout, ConnectionRefusedError, OSError):
        print("timeout")


main()
