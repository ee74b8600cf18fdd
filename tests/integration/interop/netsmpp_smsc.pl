#!/usr/bin/perl
# A small SMSC on Net::SMPP (Debian: libnet-smpp-perl), an SMPP implementation we
# did not write, for tests/integration/test_netsmpp_interop.py.
#
# It serves one ESME connection at a time: accepts bind_transceiver with the given
# credentials, answers each submit_sm with a message id and sends its delivery
# receipt (esm_class 0x04, the Appendix B text and the receipted_message_id and
# message_state TLVs), sends one incoming SMS (a deliver_sm that is not a receipt)
# after the first submit, answers enquire_link and unbind, and sends one
# enquire_link of its own after the bind to see that the ESME answers it.
#
# Everything it sees is written to --log as JSON lines, one object per PDU, for the
# test to assert on: the first line is {"event":"listening","port":N}.
#
# With --quiet (the delivery benchmark's reference SMSC, bench/delivery.py) it logs
# no PDU but the bind, only a {"event":"stats",...} line of its counters every
# --stats-every submits, every 0.25 s while they move, and when the ESME leaves: a JSON line per PDU would be most
# of its work. --no-receipts sends none, whatever the ESME asks for;
# --receipt-delay S sends each receipt S seconds after its submit_sm_resp (default 0:
# at once, right after it), as a carrier's come later, apart from the answers.
#
# Usage: netsmpp_smsc.pl --port 0 --log FILE --system-id ID --password PW
#          --incoming-from +507... --incoming-to +507... --incoming-text TEXT
#          [--quiet [--stats-every N]] [--no-receipts] [--receipt-delay S]
use strict;
use warnings;

use Encode qw(decode encode);
use Getopt::Long qw(GetOptions);
use IO::Handle;
use IO::Select;
use JSON::PP;
use List::Util qw(max);
use Net::SMPP;
use POSIX qw(strftime);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time);

my %opt = (port => 0, host => '127.0.0.1', 'system-id' => 'jooksms', password => 'secret',
           'stats-every' => 1000, 'receipt-delay' => 0);
GetOptions(\%opt, 'host=s', 'port=i', 'log=s', 'system-id=s', 'password=s',
           'incoming-from=s', 'incoming-to=s', 'incoming-text=s', 'quiet', 'stats-every=i', 'no-receipts',
           'receipt-delay=f')
    or die "bad options\n";
die "--log is required\n" unless $opt{log};

open(my $log, '>>', $opt{log}) or die "cannot open $opt{log}: $!\n";
$log->autoflush(1);
my $json = JSON::PP->new->canonical->utf8;

sub note { print {$log} $json->encode({@_}), "\n" }

# What one PDU tells the log: everything, or (--quiet) nothing.
sub note_pdu { note(@_) unless $opt{quiet} }

my %count = (submits => 0, receipts_sent => 0, receipts_acked => 0);
my ($noted_at, $noted) = (0, '');
sub counters { join ',', map { $count{$_} } sort keys %count }
sub note_stats {
    note(event => 'stats', at => time, %count);
    ($noted_at, $noted) = (time, counters());
}
# At most every 0.25 s, when a counter moved: the last receipts get counted too.
sub note_stats_now_and_then {
    note_stats() if $opt{quiet} && time - $noted_at >= 0.25 && counters() ne $noted;
}

my $listener = Net::SMPP->new_listen($opt{host}, port => $opt{port}, smpp_version => 0x34)
    or die "cannot listen on $opt{host}:$opt{port}: $!\n";
note(event => 'listening', port => $listener->sockport);

$SIG{TERM} = sub { note(event => 'terminated'); exit 0 };

my $next_id = 0;
my $incoming_sent = 0;

# accept gives up after Net::SMPP's timeout (5 s) with nobody there: wait on.
while (1) {
    my $conn = $listener->accept or next;
    # Net::SMPP writes each PDU on its own: with Nagle on, a receipt written right
    # after a submit_sm_resp would wait for the ESME's (delayed) ACK of the first.
    setsockopt($conn, IPPROTO_TCP, TCP_NODELAY, 1) or die "TCP_NODELAY: $!\n";
    note(event => 'connected');
    serve($conn);
    close $conn;
    note_stats() if $opt{quiet};
    note(event => 'disconnected');
}

sub serve {
    my ($conn) = @_;
    my $bound = 0;
    my %sent;    # our sequence number -> what we sent, until its response comes
    my @due;     # [when, submit_sm, message id]: receipts to send, oldest first
    my $select = IO::Select->new($conn);
    while (1) {
        while (@due && $due[0][0] <= time) {
            my (undef, $submit, $id) = @{shift @due};
            $sent{send_receipt($conn, $submit, $id)} = "receipt $id";
            $count{receipts_sent}++;
        }
        note_stats_now_and_then();
        # Read when a PDU comes, or wake for the next receipt due (or the stats).
        my $wait = @due ? max(0, $due[0][0] - time) : undef;
        $wait = 0.25 if $opt{quiet} && !(defined $wait && $wait < 0.25);
        next unless $select->can_read($wait);
        my $pdu = $conn->read_pdu or last;
        my $cmd = $pdu->explain_cmd;
        if ($cmd eq 'bind_transceiver') {
            my $ok = $pdu->{system_id} eq $opt{'system-id'}
                && $pdu->{password} eq $opt{password};
            note(pdu => $cmd, system_id => $pdu->{system_id},
                 interface_version => $pdu->{interface_version}, accepted => $ok ? JSON::PP::true : JSON::PP::false);
            $conn->bind_transceiver_resp(seq => $pdu->seq, system_id => 'NetSMPP',
                                         status => $ok ? 0 : 0x0e);    # ESME_RINVPASWD
            next unless $ok;
            $bound = 1;
            my $seq = $conn->enquire_link(async => 1);
            $sent{$seq} = 'enquire_link';
        }
        elsif ($cmd eq 'submit_sm') {
            if (!$bound) {
                $conn->submit_sm_resp(seq => $pdu->seq, status => 0x04, message_id => '');
                next;
            }
            my $id = sprintf('%010d', ++$next_id);
            note_pdu(submit_record($pdu, $id)) unless $opt{quiet};
            $conn->submit_sm_resp(seq => $pdu->seq, message_id => $id);
            if ($pdu->{registered_delivery} & 0x01 && !$opt{'no-receipts'}) {
                push @due, [time + $opt{'receipt-delay'}, $pdu, $id];
            }
            note_stats() if $opt{quiet} && ++$count{submits} % $opt{'stats-every'} == 0;
            if (!$incoming_sent && defined $opt{'incoming-to'}) {
                my $seq = send_incoming($conn);
                $sent{$seq} = 'incoming';
                $incoming_sent = 1;
            }
        }
        elsif ($cmd eq 'deliver_sm_resp' || $cmd eq 'enquire_link_resp'
               || $cmd eq 'generic_nack') {
            my $for = delete $sent{$pdu->seq} // 'nothing we sent';
            $count{receipts_acked}++ if $for =~ /^receipt/;
            note_pdu(pdu => $cmd, status => $pdu->status, for => $for);
        }
        elsif ($cmd eq 'enquire_link') {
            note_pdu(pdu => $cmd);
            $conn->enquire_link_resp(seq => $pdu->seq);
        }
        elsif ($cmd eq 'unbind') {
            note_pdu(pdu => $cmd);
            $conn->unbind_resp(seq => $pdu->seq);
            return;
        }
        else {
            note_pdu(pdu => $cmd, unexpected => JSON::PP::true);
            $conn->generic_nack(seq => $pdu->seq, status => 0x03)    # ESME_RINVCMDID
                unless $pdu->{cmd} & 0x80000000;
        }
    }
}

# What the test asserts on: the fields that say how the message was encoded, the
# UDH apart from the text, and both in hex so that any octet survives JSON.
sub submit_record {
    my ($pdu, $id) = @_;
    my $data = $pdu->{short_message} // '';
    my ($udh, $text) = ('', $data);
    if ($pdu->{esm_class} & 0x40 and length $data) {
        my $udhl = ord(substr($data, 0, 1));
        $udh = substr($data, 0, 1 + $udhl);
        $text = substr($data, 1 + $udhl);
    }
    return (
        pdu => 'submit_sm', message_id => $id,
        source_addr => $pdu->{source_addr}, source_addr_ton => $pdu->{source_addr_ton},
        destination_addr => $pdu->{destination_addr}, dest_addr_ton => $pdu->{dest_addr_ton},
        data_coding => $pdu->{data_coding}, esm_class => $pdu->{esm_class},
        registered_delivery => $pdu->{registered_delivery},
        sm_length => length $data, udh => unpack('H*', $udh), text_hex => unpack('H*', $text),
    );
}

sub send_receipt {
    my ($conn, $pdu, $id) = @_;
    my $now = strftime('%y%m%d%H%M', gmtime);
    # Appendix B: the text field holds the first 20 characters of the message.
    my $excerpt = $pdu->{data_coding} == 0 && !($pdu->{esm_class} & 0x40)
        ? substr($pdu->{short_message}, 0, 20) : '';
    my $receipt = "id:$id sub:001 dlvrd:001 submit date:$now done date:$now"
        . " stat:DELIVRD err:000 text:$excerpt";
    return $conn->deliver_sm(
        async => 1,
        source_addr_ton => $pdu->{dest_addr_ton}, source_addr_npi => $pdu->{dest_addr_npi},
        source_addr => $pdu->{destination_addr},
        dest_addr_ton => $pdu->{source_addr_ton}, dest_addr_npi => $pdu->{source_addr_npi},
        destination_addr => $pdu->{source_addr},
        esm_class => 0x04, data_coding => 0, short_message => $receipt,
        receipted_message_id => "$id\0",
        message_state => chr(2),    # DELIVERED
    );
}

# One SMS from a handset, in UCS-2 so that the ESME has to decode it.
sub send_incoming {
    my ($conn) = @_;
    my $text = decode('UTF-8', $opt{'incoming-text'} // 'Hello from Net::SMPP');
    my $from = $opt{'incoming-from'} // '+50760000000';
    my $to = $opt{'incoming-to'};
    note(event => 'incoming', from => $from, to => $to);
    # "+digits" is an international number: TON 1 and the digits alone.
    my $from_ton = $from =~ s/^\+// ? 1 : 0;
    my $to_ton = $to =~ s/^\+// ? 1 : 0;
    return $conn->deliver_sm(
        async => 1,
        source_addr_ton => $from_ton, source_addr_npi => 1, source_addr => $from,
        dest_addr_ton => $to_ton, dest_addr_npi => 1, destination_addr => $to,
        esm_class => 0x00, data_coding => 0x08,
        short_message => encode('UTF-16BE', $text),
    );
}
